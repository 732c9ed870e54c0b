"""One module per panel; each panel only draws what the session's signals carry.

See ``convscope.ui`` for the panel protocol and ``convscope.ui.main_window.PANELS``.
"""
