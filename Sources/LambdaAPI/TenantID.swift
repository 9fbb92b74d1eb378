/// Tenant IDs as the model constrains them: 1..256 characters of `[a-zA-Z0-9._:/=+\-@ ]`, refused in AWS's
/// standard validation form.
public enum TenantID {
    public static let pattern = "[a-zA-Z0-9\\._:\\/=+\\-@ ]+"

    public static func validate(_ id: String) throws(LambdaError) {
        let allowed = Set("._:/=+-@ ")
        var violations: [ConstraintViolation] = []
        if id.isEmpty {
            violations.append(ConstraintViolation(value: id, field: "tenantId", constraint: "Member must have length greater than or equal to 1"))
        } else if !id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || allowed.contains($0)) }) {
            violations.append(ConstraintViolation(value: id, field: "tenantId", constraint: "Member must satisfy regular expression pattern: \(pattern)"))
        }
        if id.count > 256 {
            violations.append(ConstraintViolation(value: id, field: "tenantId", constraint: "Member must have length less than or equal to 256"))
        }
        if !violations.isEmpty { throw .validation(violations) }
    }
}
