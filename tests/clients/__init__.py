"""Client tests: the Python, curl and JavaScript clients against a live server."""
