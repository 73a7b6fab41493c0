"""Result files: schema (pydantic, v1), io (integrity, atomic writes, versions), build, paths."""
