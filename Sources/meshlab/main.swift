import MeshLabCLI

MeshLabCommand.main()
