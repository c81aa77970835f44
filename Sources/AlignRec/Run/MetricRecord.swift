// A kind of metrics.jsonl line as a type: each stage defines one record per kind of line it writes (SFT in
// Train/SFTMetricRecords.swift, DPO and GRPO in Align/AlignmentMetricRecords.swift), each encoding to the keys the
// file has always held, so anything that reads the JSON keeps working. MetricsLog adds "stage" (sft_train,
// sft_valid, sft_diverged; dpo or grpo on alignment lines), "event" (alignment lines: start, valid, train, pairs,
// final, diverged) and "time" (Unix seconds) to every line; Serve/MetricEntry.swift reads the lines back typed.
import Foundation

/// One kind of metrics line.
public protocol MetricRecord: Codable, Sendable, Equatable {
    /// The line's "event" (alignment lines); nil where "stage" alone names the kind (SFT lines).
    static var event: String? { get }
}

/// A kind of line whose "stage" names it (SFT lines).
public protocol StageMetricRecord: MetricRecord {
    static var stage: String { get }
}

extension StageMetricRecord {
    public static var event: String? { nil }
}

/// One line as MetricsLog writes it: the record's fields, then stage, event and time.
struct StampedRecord<R: MetricRecord>: Encodable {
    var record: R
    var stage: String
    var time: Double

    func encode(to encoder: Encoder) throws {
        try record.encode(to: encoder)
        var c = encoder.container(keyedBy: MetricKey.self)
        try c.encode(stage, forKey: MetricKey("stage"))
        try c.encodeIfPresent(R.event, forKey: MetricKey("event"))
        try c.encode(time, forKey: MetricKey("time"))
    }
}

/// A key named at run time (SFT mix scores, the fields MetricsLog adds).
struct MetricKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
