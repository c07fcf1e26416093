using System.Text.RegularExpressions;

namespace PyodideEmbedded.Internal;

/// <summary>
/// A folder of wheels (<see cref="SandboxOptions.PackagesPath"/>) with its own <c>manifest.sha256</c>, under
/// the asset folder's rules: only listed files are read, each as a plain name in the folder, never through a
/// link, and checked against its SHA-256. The manifest is read once per process and folder; a wheel is read,
/// checked and unpacked when first installed, and what is installed is exactly what was checked.
/// </summary>
internal sealed partial class PackageStore
{
    private static readonly OncePerFolder<PackageStore> s_byFolder = new(LoadUncached);

    private readonly string _folder;
    private readonly IReadOnlyList<WheelName> _wheels;
    // Unpacked wheels by file name.
    private readonly OncePerKey<Wheel> _unpacked;

    private PackageStore(string folder, IReadOnlyList<WheelName> wheels)
    {
        _folder = folder;
        _wheels = wheels;
        _unpacked = new(Unpack);
    }

    /// <summary>Reads a folder's manifest once per process; a failed read is retried on the next call.</summary>
    /// <exception cref="SandboxAssetException">The folder or its manifest is missing or malformed.</exception>
    public static PackageStore Load(string folder) => s_byFolder.Get(folder);

    internal static PackageStore LoadUncached(string folder)
    {
        if (!Directory.Exists(folder))
        {
            throw new SandboxAssetException(folder, "The packages folder does not exist.");
        }

        var manifestPath = Path.Combine(folder, AssetStore.ManifestFileName);
        var bytes = AssetStore.ReadVerifiedFile(folder, manifestPath, maxBytes: 1024 * 1024, "packages manifest");
        var wheels = new List<WheelName>();
        foreach (var entry in AssetManifest.ParseListing(bytes, manifestPath))
        {
            wheels.Add(WheelName.Parse(entry) ?? throw new SandboxAssetException(manifestPath,
                $"The packages manifest lists '{entry.FileName}', which is not a wheel file name (name-version-python-abi-platform.whl)."));
        }

        return new PackageStore(folder, wheels);
    }

    /// <summary>Finds the wheel for <c>name</c> or <c>name==version</c> and returns it unpacked and checked.</summary>
    /// <exception cref="ArgumentException">No such package in the manifest, several versions, or not pure Python.</exception>
    /// <exception cref="SandboxAssetException">The wheel file is missing, altered, linked or malformed.</exception>
    public Wheel Get(string request, string paramName)
    {
        return _unpacked.Get(Resolve(request, paramName).Entry.FileName);
    }

    private Wheel Unpack(string fileName)
    {
        var wheel = _wheels.First(w => w.Entry.FileName == fileName);
        return Wheel.Unpack(wheel, AssetStore.ReadChecked(_folder, wheel.Entry, "package file"), Path.Combine(_folder, fileName));
    }

    internal WheelName Resolve(string request, string paramName)
    {
        var (name, version) = CheckRequest(request, paramName);
        var candidates = _wheels.Where(w => w.NormalizedName == name && (version is null || w.Version == version)).ToList();
        if (candidates.Count == 0)
        {
            var known = string.Join(", ", _wheels.Select(w => w.Name + "==" + w.Version).Distinct().Order(StringComparer.Ordinal).Take(20));
            throw new ArgumentException($"The packages manifest has no wheel for '{request}' (it lists: {(known.Length == 0 ? "nothing" : known)}).", paramName);
        }

        if (candidates.Count > 1)
        {
            throw new ArgumentException($"The packages manifest has several wheels for '{request}' ({string.Join(", ", candidates.Select(c => c.Entry.FileName))}): ask for one as name==version.", paramName);
        }

        var wheel = candidates[0];
        if (!wheel.IsPure)
        {
            throw new ArgumentException($"'{wheel.Entry.FileName}' is not a pure-Python wheel: only wheels tagged py3-none-any (or py2.py3-none-any) can be installed.", paramName);
        }

        return wheel;
    }

    /// <summary>Checks the syntax of <c>name</c> or <c>name==version</c>; returns the normalized name and the version.</summary>
    /// <exception cref="ArgumentException">The request is not a package name.</exception>
    internal static (string Name, string? Version) CheckRequest(string? request, string paramName)
    {
        var match = request is null ? null : RequestPattern().Match(request);
        if (match is null || !match.Success)
        {
            throw new ArgumentException($"'{request}' is not a package name (letters, digits, '.', '-', '_'; optionally ==version).", paramName);
        }

        return (Normalize(match.Groups[1].Value), match.Groups[2].Success ? match.Groups[2].Value : null);
    }

    /// <summary>PEP 503: lower case, runs of <c>-_.</c> as one <c>-</c>.</summary>
    internal static string Normalize(string name) => Separators().Replace(name, "-").ToLowerInvariant();

    [GeneratedRegex(@"^([A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)(?:==([A-Za-z0-9][A-Za-z0-9._+!]{0,63}))?$")]
    private static partial Regex RequestPattern();

    [GeneratedRegex(@"[-_.]+")]
    private static partial Regex Separators();
}

/// <summary>A wheel file name taken apart: <c>{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl</c>.</summary>
internal sealed record WheelName(AssetManifest.Entry Entry, string Name, string Version, string PythonTag, string AbiTag, string PlatformTag)
{
    public string NormalizedName { get; } = PackageStore.Normalize(Name);

    /// <summary>Pure Python for any Python 3: <c>py3</c> (alone or among <c>py2.py3</c>), no ABI, any platform.</summary>
    public bool IsPure => PythonTag.Split('.').Contains("py3") && AbiTag == "none" && PlatformTag == "any";

    public static WheelName? Parse(AssetManifest.Entry entry)
    {
        var fileName = entry.FileName;
        if (!fileName.EndsWith(".whl", StringComparison.Ordinal))
        {
            return null;
        }

        var parts = fileName[..^4].Split('-');
        if (parts.Length is not (5 or 6) || parts.Any(static p => p.Length == 0))
        {
            return null;
        }

        return new WheelName(entry, parts[0], parts[1], parts[^3], parts[^2], parts[^1]);
    }
}
