"""Plants and suppliers: the master data every app and every user's scope refers to."""
