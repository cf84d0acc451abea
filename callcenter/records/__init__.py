"""The unified customer record: tables, identity resolution, interaction log, migrations."""
