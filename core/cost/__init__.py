"""Cost: quotes from cost models (price lists, ownership), staleness of prices."""
