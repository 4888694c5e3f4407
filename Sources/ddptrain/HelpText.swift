import Foundation  // String(format:)

/// A number as help texts show a default: the shortest form (`0.1`, `0.0001`, `1`, `300`).
func number<T: BinaryFloatingPoint>(_ value: T) -> String { String(format: "%g", Double(value)) }

/// A flag's default as help texts show it.
func onOff(_ value: Bool) -> String { value ? "on" : "off" }
