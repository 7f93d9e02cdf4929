"""Privacy: de-identification of data (`deid`) and differentially private training (`dp`).

Subpackages are imported on demand: de-identification pulls in presidio and cryptography, which
training does not need.
"""
