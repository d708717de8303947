from wheelplan.cli import script

script()
