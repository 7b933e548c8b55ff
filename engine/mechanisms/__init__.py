"""Live mechanisms: the hosts that run their code and the active set the inner loop consults."""
