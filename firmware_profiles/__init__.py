"""The shipped profiles (TOML data files); see README.md here for the schema."""
