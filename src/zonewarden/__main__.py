from zonewarden.cli.main import cli

cli()
