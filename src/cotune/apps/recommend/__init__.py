"""Text-based recommendation (issue 24): two towers over item text, retrieve then re-rank.

`cotune recommend train CONFIG` builds a folder; `Recommender.load(folder).recommend(...)`,
`cotune recommend FOLDER --user ID` and `cotune serve FOLDER` use it. See docs/recommend.md.
"""
