"""Pure logic: the task model and plan, the graph, the DAG layout, the layering rule."""
