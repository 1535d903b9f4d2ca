import ArgumentParser
import DispatchCore

/// An unknown subcommand (`dispatch-due statsu`) is a usage error that names the closest
/// command ("did you mean 'status'?") and lists them all, instead of ArgumentParser's
/// "unexpected argument". Only words before the first option are looked at: past that the
/// parser reports as usual.
enum CommandSuggestion {
    static func message(for arguments: [String], root: any ParsableCommand.Type = DispatchDueCommand.self) -> String? {
        var command = root
        var path = [root._commandName]
        for argument in arguments {
            let subcommands = command.configuration.subcommands
            guard !argument.hasPrefix("-"), !subcommands.isEmpty, command.configuration.defaultSubcommand == nil,
                argument != "help"
            else { return nil }
            if let next = subcommands.first(where: { $0._commandName == argument || $0.configuration.aliases.contains(argument) }) {
                command = next
                path.append(argument)
                continue
            }
            let names = subcommands.map { $0._commandName }
            let shown = ManagementOutput.quotedForMessage(argument)
            var message = "\(path.joined(separator: " ")): unknown command \(shown)"
            if let best = closest(argument, names) { message += "; did you mean '\(best)'?" }
            message += "\nCommands: \(names.joined(separator: ", ")). See '\(path.joined(separator: " ")) --help'."
            return message
        }
        return nil
    }

    /// The name within a small edit distance (transpositions count once), if one is.
    static func closest(_ typed: String, _ names: [String]) -> String? {
        let scored = names.map { ($0, distance(Array(typed.lowercased()), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        // "statsu" → status (1), "migrat" → migrate (1); unrelated words suggest nothing.
        return best.1 <= max(1, min(3, best.0.count / 3)) ? best.0 : nil
    }

    /// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
