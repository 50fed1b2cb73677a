"""The web explorer: a FastAPI app (ketasim.apps.web.app.create_app) with static pages served from the package."""
