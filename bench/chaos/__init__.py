"""`make chaos`: fault injection on the production layout (bench/README.md, issue 9 point 6).

The layout under test is defined in bench/chaos/layout.py and nowhere else.
"""
