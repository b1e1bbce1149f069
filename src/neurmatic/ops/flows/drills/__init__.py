"""Disaster-recovery drills: inject a real fault into the running topology under load, measure, report.

The operators' guide asks for a quarterly drill that measures RTO and RPO. A drill here is a scenario
(``scenarios/``, one module each, found by :mod:`.registry`) run by :mod:`.runner` while :mod:`.load`
writes and reads through nginx; :mod:`.measure` turns the recorded timeline into RTO, RPO and failure
counts, and :mod:`.report` writes them to ``<state>/drills/``.

Kept free of imports: the job worker imports :mod:`.probe` by name, and should not load the drill
machinery to do so.
"""
