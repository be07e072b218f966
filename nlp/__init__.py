"""Language: category rules, language hints (the classifier and geocoder come later)."""
