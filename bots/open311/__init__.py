"""Open311 GeoReport v2: a city portal's POSTed service request → the normalised Message (the API itself,
its listings and status reads, is served by web/open311.py)."""
