"""Functions the protocol tests serve (GRADTAPE_FUNCTIONS_DIR), and their closed forms."""
