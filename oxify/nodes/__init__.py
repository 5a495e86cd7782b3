"""Node executors: one per kind, and the registry that maps kinds to them."""
