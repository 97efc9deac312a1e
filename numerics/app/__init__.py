"""The application: the ``vae-collapse`` command line, the report, writers and figures.

The top layer: it parses, calls the library and prints or writes; it computes nothing
that the layers below do not already provide.
"""
