import VMProvCLI

VMProv.runMain()
