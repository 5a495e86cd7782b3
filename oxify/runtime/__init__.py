"""The one driver and its roles (producer, driver, node runner, reconciler), over any
state store and dispatcher: see :mod:`oxify.runtime.runtime`."""
