"""The pattern rules: the catalogue (``catalogue.RULES``) and the families it is made of.

Importing a module of this package (``model`` for the rule type) compiles nothing; importing
``catalogue`` compiles every rule, which only the process that matches needs.
"""
