"""The NLP tests' own small training set (written for the tests, never the evaluation texts)."""

EXAMPLES = {
    "flood": ["banjir sepinggang di gang kami", "air masuk rumah warga sejak subuh", "jalanan tergenang air hujan",
              "flooded street near the market", "banjir lagi min, motor gak bisa lewat"],
    "garbage": ["sampah numpuk di pinggir kali", "tumpukan sampah belum diangkut 3 hari", "bau sampah di tps",
                "garbage piling up near the school", "warga buang sampah sembarangan"],
    "illegal_parking": ["parkir liar di trotoar", "mobil parkir di bahu jalan bikin sempit", "jukir liar minta uang",
                        "cars parked on the sidewalk again", "motor parkir sembarangan depan ruko"],
    "not_report": ["terima kasih min", "selamat pagi", "gimana cara lapor?", "thanks a lot", "halo admin"],
}
