"""wheelplan: plan a set of wheels into one reviewed file map, then apply it in parallel."""
