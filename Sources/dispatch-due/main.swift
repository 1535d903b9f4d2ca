// The executable holds no logic: everything lives in the DispatchDue library.
import DispatchDue

CommandLineEntry.main()
