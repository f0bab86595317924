"""The app's widgets: one module per view or panel."""
