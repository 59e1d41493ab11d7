"""Lake storage backends, one module per URI scheme (registered in :data:`pipeline.lake.SCHEMES`)."""
