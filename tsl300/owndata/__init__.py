"""Your own videos, end to end: scan a folder, annotate points in the browser
(:mod:`.annotate_server`), build a dataset (:mod:`.build`) and look at results (:mod:`.viewer`)."""
