"""Training machinery behind the models: data checks, compile resolution, loops."""
