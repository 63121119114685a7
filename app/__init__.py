"""gradtape's HTTP layer: a thin FastAPI app over the engine (see app.main.create_app)."""
