"""Pure core: validation, planning, templates, conditions, state machine."""
