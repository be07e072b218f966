"""Language and places, offline: the category classifier and its phrase rules, the taxonomy, language hints,
the gazetteer, place finding, geocoding and reverse geocoding, and the `analyse`/`eval` commands' logic."""
