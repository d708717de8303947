"""The only code in wheelplan that writes into a target environment."""
