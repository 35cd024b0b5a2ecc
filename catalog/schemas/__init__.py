"""STAC extension schemas KappaCat declares that the offline schema folder may lack."""
