"""The command line: one module per command group, each registered through the same
``hwprof_register_commands`` hook a third-party plugin uses. Parses, calls and renders; nothing else.
"""
