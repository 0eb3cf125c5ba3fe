"""The application shell: the command line, the table of stages, and the process that runs them side by side."""
