"""farmannot's additions to labelme 6.3: SAM in labelme's AI tools, the caption dock, GeoTIFF display, timing.

labelme has no plugin API, so everything hooks in at one place, :class:`window.FarmannotMainWindow` (a
subclass of ``labelme.app.MainWindow``); ``tests/plugins/test_labelme_hooks.py`` checks that the labelme
internals it relies on are still there. All logic lives in ``farmannot.*``; these modules are widgets only.
"""
