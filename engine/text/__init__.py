"""The text domain's engine side: the revision pipeline, its writers and judge, lessons, generated stages."""
