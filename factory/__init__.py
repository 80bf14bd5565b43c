"""factory: an offline distillation data factory.

problems → samples → verdicts → shards. `import factory` stays light: engines load when a run needs them.
"""

__version__ = "0.1.0"
