"""Model cards shipped with KappaCat (package data; see :mod:`inference.cards`)."""
