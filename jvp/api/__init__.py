"""The HTTP edge: the action registry, dispatch, auth, audit and one module of actions per resource."""
