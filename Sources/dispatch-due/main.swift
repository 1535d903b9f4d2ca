// The executable holds no logic: the command line lives in DispatchDueCLI, the rest in DispatchCore.
import DispatchDueCLI

CommandLineEntry.main()
