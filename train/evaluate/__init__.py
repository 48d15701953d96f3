"""Robustness of what ships, measured by attacks that know the whole defence: `python -m digitguard.train.evaluate`.

threat.py    the defended model as the attacker differentiates it, and the adaptive losses
metrics.py   the success rule, table rows of runtime answers, ROC and detection rates
context.py   what every section reads: test images, the shipped runtime, the checked checkpoints, the attacks made
sections.py  one function per report section
real_world.py  the sections of the paths users take: held-out-look photos and a camera video, through the runtime
report.py    REPORT.md (one table helper), the plots, the manifest's headline figures
"""
