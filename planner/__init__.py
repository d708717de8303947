"""The pure half of wheelplan: read wheels and a target, return an immutable plan."""
