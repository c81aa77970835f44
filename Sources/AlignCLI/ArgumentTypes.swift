// Typed command-line values: a protocol or split is parsed once, where it enters, and ArgumentParser's error
// lists the allowed values.
import AlignRec
import ArgumentParser

extension EvalProtocol: ExpressibleByArgument {}
extension Split: ExpressibleByArgument {}
extension GoalMetric: ExpressibleByArgument {}
